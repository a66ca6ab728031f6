"""`python -m commute_weather COMMAND ...`, the same as the `commute-weather` console script."""

from commute_weather.commands import main

main()
