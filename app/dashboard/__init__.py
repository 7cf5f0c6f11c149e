"""The marketer's dashboard: a static page that calls the API with a key the user enters."""
