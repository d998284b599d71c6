"""One module per verb: typed options in, typed results out, nothing printed, no argparse.

The CLI (`ftwiz.cli`) parses arguments into these options, calls the verb and renders its result
(`ftwiz.views`); the wizard calls the same functions, so a feature exists once. `launch.start` is the only way
a new run starts.
"""
