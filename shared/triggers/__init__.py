"""Function blueprints: parse, call the domain, answer. No domain logic here."""
