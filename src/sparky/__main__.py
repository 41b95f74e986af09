from sparky.cli import main

raise SystemExit(main())
