"""The service's routes, one module per area of API_CONTRACT.md."""
