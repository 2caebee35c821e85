"""The finance view: server-rendered pages, their sessions and the chart's geometry."""
