from faxcore.cli import main

raise SystemExit(main())
