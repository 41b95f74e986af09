from sparky.cli.main import main

raise SystemExit(main())
