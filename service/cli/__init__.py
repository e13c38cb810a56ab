"""The command line (`python run.py --help`): one module per command group."""
