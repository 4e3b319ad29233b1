"""The web console (``p2pilot console``): the desk in a browser, and its JSON API."""
