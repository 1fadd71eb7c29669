"""Framework integrations: each module meets one ML framework and imports it only when used."""
