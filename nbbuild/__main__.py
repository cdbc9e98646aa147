"""``python -m nbbuild`` runs the same command line as the ``nbbuild`` script."""

from nbbuild.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
