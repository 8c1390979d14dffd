"""The dashboard on the health port (issue 22): routes, JSON endpoints and a few static files, no build step."""
