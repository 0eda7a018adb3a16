"""Pictures and panel SQL without Grafana: Grafana macro expansion, the provisioned
dashboards as data, and PNG charts straight from the database (python -m report)."""
