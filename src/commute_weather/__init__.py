"""commute-weather: forecast next-commute comfort from KMA hourly observations."""
