"""Email: digests mailed over SMTP (aiosmtplib), one message per digest."""
