from ftaudit.cli import entry

entry()
