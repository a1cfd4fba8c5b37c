"""One module per `modbot` subcommand, each with `add_arguments(parser)` and `run(args) -> int`."""
