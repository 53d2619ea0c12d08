"""Staff access: revoking tokens, and the audit log of sensitive acts."""
