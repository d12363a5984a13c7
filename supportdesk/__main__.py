"""``python -m supportdesk …``: the same as the ``supportdesk`` command."""

from supportdesk.console import main

main()
