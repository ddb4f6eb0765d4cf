"""Development and test support that never ships in an app: stand-ins for outside services
(``slack_standin``) used by the test suite and ``make demo``."""
