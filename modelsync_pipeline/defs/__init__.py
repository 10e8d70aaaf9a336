"""Dagster objects (assets, checks, jobs, schedules, sensors); each body calls pure logic and a resource."""
