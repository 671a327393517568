"""Small factories that put rows straight into the database for tests, one module per
domain, named as the domain is in app/ (orgs, users, media, tasks, wishes,
volunteer_hours, articles, problems); world.py builds the scene most tests share."""
