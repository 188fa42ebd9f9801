from django.contrib import admin

from wallet.models import Login, Message, Transfer, Wallet


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ["user", "balance"]
    search_fields = ["user__username"]


@admin.register(Transfer)
class TransferAdmin(admin.ModelAdmin):
    list_display = ["created_at", "sender", "recipient", "amount", "note"]
    list_select_related = ["sender", "recipient"]
    search_fields = ["sender__username", "recipient__username"]
    date_hierarchy = "created_at"


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "sender", "recipient", "text"]
    list_select_related = ["sender", "recipient"]
    search_fields = ["sender__username", "recipient__username"]


@admin.register(Login)
class LoginAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user"]
    list_select_related = ["user"]
    search_fields = ["user__username"]
