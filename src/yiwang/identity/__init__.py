"""Identity and access: accounts, passwords, two-factor sign-in, sessions, API tokens, single
sign-on, and the role/permission policy (pycasbin) with 三员 separation."""
