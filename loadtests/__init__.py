"""Load tests: a locust suite that drives the service over HTTP as hospital billing systems do."""
