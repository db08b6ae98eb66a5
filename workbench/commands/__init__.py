"""Subcommands of ``ocpp-workbench``: each module has NAME, HELP, add_arguments(parser), run(args)."""
