from netsight.cli.main import main

raise SystemExit(main())
