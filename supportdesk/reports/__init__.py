"""Reports for managers: counts, trends, resolution times, SLA breaches, weekly ranks."""
