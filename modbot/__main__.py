from modbot.cli import main

raise SystemExit(main())
