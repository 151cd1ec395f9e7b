from ftaudit.cli import main

raise SystemExit(main())
