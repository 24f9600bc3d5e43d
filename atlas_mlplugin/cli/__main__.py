from atlas_mlplugin.cli.main import cli

cli()
