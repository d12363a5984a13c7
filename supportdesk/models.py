"""Import every model so that the metadata (and Alembic) see all tables."""

from supportdesk.api.models import IdempotentRequest
from supportdesk.attachments.models import Attachment, AttachmentBlob
from supportdesk.audit.models import AuditLog
from supportdesk.customers.models import Customer, ticket_ccs
from supportdesk.macros.models import AssignMode, Macro, MacroTag
from supportdesk.mail.models import MailDelivery, MailKind, MailMessage
from supportdesk.mail.notices import StaffNotice
from supportdesk.reports.models import ReportSnapshot
from supportdesk.tags.models import Tag, ticket_tags
from supportdesk.tickets.formtokens import FormToken
from supportdesk.tickets.models import (
    Comment,
    Counter,
    Ticket,
    TicketFollower,
    TicketPriority,
    TicketStatus,
)
from supportdesk.users.models import ApiToken, PasswordReset, RecoveryCode, User, UserRole
from supportdesk.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from supportdesk.worker import WorkerBeat

__all__ = [
    "ApiToken",
    "IdempotentRequest",
    "Attachment",
    "AttachmentBlob",
    "AuditLog",
    "FormToken",
    "AssignMode",
    "Comment",
    "Customer",
    "MailDelivery",
    "MailKind",
    "MailMessage",
    "Macro",
    "ReportSnapshot",
    "MacroTag",
    "Counter",
    "Tag",
    "Ticket",
    "TicketFollower",
    "TicketPriority",
    "TicketStatus",
    "PasswordReset",
    "RecoveryCode",
    "User",
    "UserRole",
    "WorkerBeat",
    "StaffNotice",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "ticket_ccs",
    "ticket_tags",
]
