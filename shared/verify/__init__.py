"""Proof before reset: the person who gets the new factor proves they are the user.

``links`` makes the link to the user's page; ``client`` asks Microsoft Entra Verified ID's
Request Service for a presentation (with Face Check); ``rules`` decides whether what came back
proves that this user is the one presenting. The flow that ties them to a reset is
``shared.reset.verification``; the page and the callback endpoint are ``shared.triggers.verify``.
"""
