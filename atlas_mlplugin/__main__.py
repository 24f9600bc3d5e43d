"""`python -m atlas_mlplugin ...` is `atlas-ml ...` (for environments without the console script)."""

from atlas_mlplugin.cli.main import cli

if __name__ == "__main__":
    cli(prog_name="atlas-ml")
