"""`python -m commute_weather.validate`, the command the product plan names (the live smoke check:
`--source kma --limit 10`): the validate stage, commute_weather.pipeline.validate."""

from commute_weather.pipeline.validate import main

if __name__ == "__main__":
    main()
