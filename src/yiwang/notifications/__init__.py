"""Notifications (消息通知): the in-app inbox, e-mail (SMTP) and an SMS gateway interface."""
