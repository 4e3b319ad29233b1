from p2pilot.cli.main import main

main()
