from p2pilot.cli import main

main()
