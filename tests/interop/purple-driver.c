/* Headless libpurple client for interop tests: signs in one pidgin-sipe account and turns line
 * commands on stdin into libpurple calls, libpurple events into lines on stdout.
 *
 * Usage: purple-driver USER@DOMAIN SERVER:PORT
 *   Run with LD_PRELOAD=libxml2-sax1-shim.so on Debian 12 (xccos/PROTOCOL.md §9).
 * Environment:
 *   PCHAT_PURPLE_DEBUG=1         libpurple + SIPE debug (full SIP dumps) on stderr
 *   PCHAT_DRIVER_TIMEOUT=<s>     exit by itself after this many seconds (default 120)
 *   PCHAT_DRIVER_GROUPCHAT_USER  SIPE's "Group Chat Proxy" account setting (optional)
 *
 * Commands (one per line on stdin):
 *   roomlist                     ask for the room list (purple room-list API -> cmd:chansrch)
 *   join <ma-chan uri | name>    join a room (chat component "uri"); a name is looked up in the
 *                                last room list
 *   say <uri> <text>             post plain text to a joined room
 *   leave <uri>                  close the room (SIPE sends cmd:part)
 *   users <uri>                  print the current member list as a USERS line
 *   ping [token]                 answered "PONG token" (lets a script wait for earlier lines)
 *   quit                         sign out and exit (also on EOF, SIGTERM, SIGINT)
 *
 * Events (one per line on stdout, flushed; fields are separated by single spaces):
 *   READY                        the account is connected (REGISTER accepted)
 *   GROUPCHAT                    SIPE connected its channel-service dialog (chat usable);
 *                                read from SIPE's debug text, the only sign SIPE gives
 *   ROOM name=<n> uri=<u> private=<0|1> users=<n> invite=<0|1> logged=<0|1> description=<rest>
 *                                one room-list row; name and uri have ' ' and '%' %-escaped
 *   ROOMLIST-END                 the room-list request is finished
 *   JOINED <uri> <title>         a chat window opened (rpl:join / rpl:bjoin)
 *   USERS <uri> <u1,u2,...>      member list after a join (sorted), or on "users"
 *   USER-JOIN <uri> <user>       someone entered (ntc:join)
 *   USER-LEAVE <uri> <user>      someone left (ntc:part)
 *   MSG <uri> <from> <flags> <text>  a chat message; flags comma-joined from send, recv,
 *                                delayed, nick, system (own echo = "send"); text has HTML
 *                                stripped and line breaks written as \n
 *   SYSTEM <uri> <text>          a status line libpurple writes into the window ("x entered")
 *   LEFT <uri>                   the room was closed by "leave"
 *   REPLY <id> <code>            SIPE has acted on a server reply or notice, e.g.
 *                                "REPLY rpl:bccontext 200" follows the history MSG lines
 *                                (read from SIPE's debug text; notices show code 500)
 *   ERROR <text>                 error box or error line ("Error joining chat room: ...",
 *                                "This message was not delivered to chat room ...", and
 *                                "group chat service not reached: ..." when SIPE gives up)
 *   NOTICE <text>                info/warning box
 *   DISCONNECTED <reason>        the connection failed or was closed by the server
 *   PONG <token>                 answer to ping
 *   TIMEOUT                      PCHAT_DRIVER_TIMEOUT ran out; the driver exits with status 3
 * A <uri> of "?" means the window could not be matched to a room URI. */
#include <glib.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <purple.h>

#define UI_ID "pchat-interop"
#define SIPE_PLUGIN_DIR "/usr/lib/purple-2"
#define DEFAULT_TIMEOUT_SECONDS 120
#define MAX_COMMAND_LINE 4096
#define GROUPCHAT_UP_MARK "connection to group chat server established."
#define REPLY_MARK "chatserver_response: '"
#define MAX_REPLY_ID 64

struct room {
    char *uri;
    PurpleConversation *conv;
    guint users_flush_id;
};

static GMainLoop *main_loop;
static PurpleAccount *account;
static char *user_dir;
static gboolean debug_to_stderr;
static gboolean quitting;
static int exit_status;
static GList *rooms;                  /* struct room *, one per open chat window */
static GQueue pending_joins = G_QUEUE_INIT; /* room URIs asked for, not yet opened */
static GHashTable *roomlist_uris;     /* room name -> URI, from the last room list */
static PurpleRoomlist *current_roomlist;
static gboolean roomlist_requesting;

/* ---- output ------------------------------------------------------------------------------ */

static void emit(const char *format, ...) G_GNUC_PRINTF(1, 2);
static void emit(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vfprintf(stdout, format, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

/* Markup to one plain line: the test script reads events line by line. */
static char *plain_one_line(const char *markup)
{
    char *plain = purple_markup_strip_html(markup ? markup : "");
    GString *out = g_string_sized_new(strlen(plain));
    for (const char *p = plain; *p; p++) {
        if (*p == '\r')
            continue;
        if (*p == '\n')
            g_string_append(out, "\\n");
        else
            g_string_append_c(out, *p);
    }
    g_free(plain);
    return g_string_free(out, FALSE);
}

/* Room names and URIs become single tokens in ROOM lines. */
static char *token_escape(const char *text)
{
    GString *out = g_string_new(NULL);
    for (const char *p = text ? text : ""; *p; p++) {
        if (*p == ' ' || *p == '%' || *p == '\t' || *p == '\n' || *p == '\r')
            g_string_append_printf(out, "%%%02X", (unsigned char)*p);
        else
            g_string_append_c(out, *p);
    }
    return g_string_free(out, FALSE);
}

/* ---- room bookkeeping -------------------------------------------------------------------- */

static struct room *room_by_conv(PurpleConversation *conv)
{
    for (GList *l = rooms; l; l = l->next) {
        struct room *room = l->data;
        if (room->conv == conv)
            return room;
    }
    return NULL;
}

static struct room *room_by_uri(const char *uri)
{
    for (GList *l = rooms; l; l = l->next) {
        struct room *room = l->data;
        if (strcmp(room->uri, uri) == 0)
            return room;
    }
    return NULL;
}

static const char *conv_uri(PurpleConversation *conv)
{
    struct room *room = room_by_conv(conv);
    return room ? room->uri : "?";
}

/* SIPE titles the window with the room name only, so the URI comes from our own join request:
 * prefer the pending URI the last room list gives for that name, else the oldest pending. */
static char *take_pending_uri(const char *title)
{
    const char *listed = roomlist_uris ? g_hash_table_lookup(roomlist_uris, title) : NULL;
    if (listed) {
        GList *hit = g_queue_find_custom(&pending_joins, listed, (GCompareFunc)strcmp);
        if (hit) {
            char *uri = hit->data;
            g_queue_delete_link(&pending_joins, hit);
            return uri;
        }
        return g_strdup(listed); /* rejoined by SIPE itself (reconnect, bjoin queue) */
    }
    char *oldest = g_queue_pop_head(&pending_joins);
    return oldest ? oldest : g_strdup("?");
}

static void room_free(struct room *room)
{
    if (room->users_flush_id)
        g_source_remove(room->users_flush_id);
    g_free(room->uri);
    g_free(room);
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(a, b);
}

static void emit_users(struct room *room)
{
    GList *names = NULL;
    for (GList *l = purple_conv_chat_get_users(PURPLE_CONV_CHAT(room->conv)); l; l = l->next)
        names = g_list_prepend(names, (gpointer)purple_conv_chat_cb_get_name(l->data));
    names = g_list_sort(names, compare_strings);
    GString *line = g_string_new(NULL);
    for (GList *l = names; l; l = l->next)
        g_string_append_printf(line, "%s%s", line->len ? "," : "", (const char *)l->data);
    g_list_free(names);
    emit("USERS %s %s", room->uri, line->str);
    g_string_free(line, TRUE);
}

/* SIPE adds the members of a join reply one call at a time; report them as one list once the
 * whole reply has been processed. */
static gboolean flush_users(gpointer data)
{
    struct room *room = data;
    room->users_flush_id = 0;
    emit_users(room);
    return G_SOURCE_REMOVE;
}

/* ---- conversation UI ops ----------------------------------------------------------------- */

static void on_chat_joined(PurpleConversation *conv)
{
    const char *title = purple_conversation_get_name(conv);
    struct room *room = room_by_conv(conv);
    if (room == NULL) {
        room = g_new0(struct room, 1);
        room->conv = conv;
        room->uri = take_pending_uri(title);
        rooms = g_list_append(rooms, room);
    }
    emit("JOINED %s %s", room->uri, title);
}

static void conv_destroyed(PurpleConversation *conv)
{
    struct room *room = room_by_conv(conv);
    if (room) {
        rooms = g_list_remove(rooms, room);
        room_free(room);
    }
}

static char *message_flags(PurpleMessageFlags flags)
{
    static const struct { PurpleMessageFlags bit; const char *name; } names[] = {
        { PURPLE_MESSAGE_SEND, "send" },       { PURPLE_MESSAGE_RECV, "recv" },
        { PURPLE_MESSAGE_DELAYED, "delayed" }, { PURPLE_MESSAGE_NICK, "nick" },
        { PURPLE_MESSAGE_SYSTEM, "system" },   { PURPLE_MESSAGE_ERROR, "error" },
    };
    GString *out = g_string_new(NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
        if (flags & names[i].bit)
            g_string_append_printf(out, "%s%s", out->len ? "," : "", names[i].name);
    if (out->len == 0)
        g_string_append(out, "none");
    return g_string_free(out, FALSE);
}

static void write_chat(PurpleConversation *conv, const char *who, const char *message,
                       PurpleMessageFlags flags, time_t mtime)
{
    (void)mtime;
    char *text = plain_one_line(message);
    char *flag_names = message_flags(flags);
    emit("MSG %s %s %s %s", conv_uri(conv), who && *who ? who : "-", flag_names, text);
    g_free(flag_names);
    g_free(text);
}

static void write_conv(PurpleConversation *conv, const char *name, const char *alias,
                       const char *message, PurpleMessageFlags flags, time_t mtime)
{
    (void)name;
    (void)alias;
    (void)mtime;
    char *text = plain_one_line(message);
    if (flags & PURPLE_MESSAGE_ERROR)
        emit("ERROR %s", text);
    else
        emit("SYSTEM %s %s", conv_uri(conv), text);
    g_free(text);
}

static void chat_add_users(PurpleConversation *conv, GList *buddies, gboolean new_arrivals)
{
    struct room *room = room_by_conv(conv);
    if (room == NULL)
        return;
    if (!new_arrivals) {
        if (room->users_flush_id == 0)
            room->users_flush_id = g_idle_add(flush_users, room);
        return;
    }
    for (GList *l = buddies; l; l = l->next)
        emit("USER-JOIN %s %s", room->uri, purple_conv_chat_cb_get_name(l->data));
}

static void chat_remove_users(PurpleConversation *conv, GList *users)
{
    for (GList *l = users; l; l = l->next)
        emit("USER-LEAVE %s %s", conv_uri(conv), (const char *)l->data);
}

static PurpleConversationUiOps conversation_ops = {
    .destroy_conversation = conv_destroyed,
    .write_chat = write_chat,
    .write_conv = write_conv,
    .chat_add_users = chat_add_users,
    .chat_remove_users = chat_remove_users,
};

/* ---- room list UI ops -------------------------------------------------------------------- */

static void roomlist_add_room(PurpleRoomlist *list, PurpleRoomlistRoom *room)
{
    const char *uri = "", *description = "";
    int users = 0, is_private = 0, invite = 0, logged = 0;
    GList *value = purple_roomlist_room_get_fields(room);
    for (GList *f = purple_roomlist_get_fields(list); f && value; f = f->next, value = value->next) {
        PurpleRoomlistField *field = f->data;
        const char *name = field->name ? field->name : "";
        if (strcmp(name, "uri") == 0)
            uri = value->data ? value->data : "";
        else if (strcmp(name, "description") == 0)
            description = value->data ? value->data : "";
        else if (strcmp(name, "users") == 0)
            users = GPOINTER_TO_INT(value->data);
        else if (strcmp(name, "private") == 0)
            is_private = value->data != NULL;
        else if (strcmp(name, "invite") == 0)
            invite = value->data != NULL;
        else if (strcmp(name, "logged") == 0)
            logged = value->data != NULL;
    }
    const char *room_name = purple_roomlist_room_get_name(room);
    if (roomlist_uris && room_name)
        g_hash_table_replace(roomlist_uris, g_strdup(room_name), g_strdup(uri));
    char *name_token = token_escape(room_name);
    char *uri_token = token_escape(uri);
    char *description_line = plain_one_line(description);
    emit("ROOM name=%s uri=%s private=%d users=%d invite=%d logged=%d description=%s", name_token,
         uri_token, is_private, users, invite, logged, description_line);
    g_free(description_line);
    g_free(uri_token);
    g_free(name_token);
}

static void roomlist_in_progress(PurpleRoomlist *list, gboolean in_progress)
{
    if (in_progress || roomlist_requesting || list != current_roomlist)
        return;
    current_roomlist = NULL;
    emit("ROOMLIST-END");
    purple_roomlist_unref(list);
}

static PurpleRoomlistUiOps roomlist_ops = {
    .add_room = roomlist_add_room,
    .in_progress = roomlist_in_progress,
};

/* ---- notify, connection and debug UI ops ------------------------------------------------- */

static void *notify_message(PurpleNotifyMsgType type, const char *title, const char *primary,
                            const char *secondary)
{
    char *text = g_strdup_printf("%s%s%s", primary ? primary : (title ? title : ""),
                                 secondary && *secondary ? ": " : "", secondary ? secondary : "");
    char *line = plain_one_line(text);
    emit("%s %s", type == PURPLE_NOTIFY_MSG_ERROR ? "ERROR" : "NOTICE", line);
    g_free(line);
    g_free(text);
    return NULL;
}

static PurpleNotifyUiOps notify_ops = {
    .notify_message = notify_message,
};

static void connection_connected(PurpleConnection *gc)
{
    (void)gc;
    emit("READY");
}

static void connection_report_disconnect(PurpleConnection *gc, PurpleConnectionError reason,
                                         const char *text)
{
    (void)gc;
    char *line = plain_one_line(text);
    emit("DISCONNECTED %s (purple error %d)", line, (int)reason);
    g_free(line);
}

static PurpleConnectionUiOps connection_ops = {
    .connected = connection_connected,
    .report_disconnect_reason = connection_report_disconnect,
};

/* SIPE logs each reply or notice before acting on it; report it once the action is done. */
static gboolean emit_reply(gpointer data)
{
    emit("REPLY %s", (const char *)data);
    g_free(data);
    return G_SOURCE_REMOVE;
}

/* "chatserver_response: 'rpl:join' result (200) SUCCESS_OK" -> "rpl:join 200" */
static void note_reply(const char *text)
{
    char id[MAX_REPLY_ID + 1];
    int code;
    if (sscanf(text, REPLY_MARK "%64[^']' result (%d)", id, &code) == 2)
        g_idle_add(emit_reply, g_strdup_printf("%s %d", id, code));
}

/* Debug lines are always inspected (they are the only sign that SIPE's chat dialog is up) and
 * shown on stderr only on request. */
static void debug_print(PurpleDebugLevel level, const char *category, const char *text)
{
    (void)level;
    if (debug_to_stderr)
        fprintf(stderr, "%s: %s\n", category ? category : "-", text);
    if (category == NULL || strcmp(category, "sipe") != 0)
        return;
    if (g_str_has_prefix(text, REPLY_MARK))
        note_reply(text);
    else if (strstr(text, GROUPCHAT_UP_MARK))
        emit("GROUPCHAT");
    else if (strstr(text, "no group chat server found.") ||
             strstr(text, "can't connect to group chat server!")) {
        char *line = g_strchomp(g_strdup(text)); /* SIPE ends its debug lines with \n */
        emit("ERROR group chat service not reached: %s", line);
        g_free(line);
    }
}

static gboolean debug_is_enabled(PurpleDebugLevel level, const char *category)
{
    (void)level;
    (void)category;
    return TRUE;
}

static PurpleDebugUiOps debug_ops = {
    .print = debug_print,
    .is_enabled = debug_is_enabled,
};

/* ---- event loop glue: libpurple's file-descriptor watches on the glib main loop ---------- */

struct input_watch {
    PurpleInputFunction func;
    gpointer data;
};

static gboolean input_dispatch(GIOChannel *channel, GIOCondition condition, gpointer data)
{
    struct input_watch *watch = data;
    int purple_condition = 0;
    if (condition & (G_IO_IN | G_IO_HUP | G_IO_ERR))
        purple_condition |= PURPLE_INPUT_READ;
    if (condition & (G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL))
        purple_condition |= PURPLE_INPUT_WRITE;
    watch->func(watch->data, g_io_channel_unix_get_fd(channel),
                (PurpleInputCondition)purple_condition);
    return G_SOURCE_CONTINUE;
}

static guint input_add(int fd, PurpleInputCondition condition, PurpleInputFunction func,
                       gpointer data)
{
    struct input_watch *watch = g_new0(struct input_watch, 1);
    int glib_condition = 0;
    watch->func = func;
    watch->data = data;
    if (condition & PURPLE_INPUT_READ)
        glib_condition |= G_IO_IN | G_IO_HUP | G_IO_ERR;
    if (condition & PURPLE_INPUT_WRITE)
        glib_condition |= G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL;
    GIOChannel *channel = g_io_channel_unix_new(fd);
    guint id = g_io_add_watch_full(channel, G_PRIORITY_DEFAULT, (GIOCondition)glib_condition,
                                   input_dispatch, watch, g_free);
    g_io_channel_unref(channel);
    return id;
}

static PurpleEventLoopUiOps eventloop_ops = {
    .timeout_add = g_timeout_add,
    .timeout_remove = g_source_remove,
    .input_add = input_add,
    .input_remove = g_source_remove,
    .timeout_add_seconds = g_timeout_add_seconds,
};

static void ui_init(void)
{
    purple_conversations_set_ui_ops(&conversation_ops);
    purple_roomlist_set_ui_ops(&roomlist_ops);
    purple_notify_set_ui_ops(&notify_ops);
    purple_connections_set_ui_ops(&connection_ops);
}

static void debug_ui_init(void)
{
    purple_debug_set_ui_ops(&debug_ops);
}

static PurpleCoreUiOps core_ops = {
    .debug_ui_init = debug_ui_init,
    .ui_init = ui_init,
};

/* ---- shutdown ---------------------------------------------------------------------------- */

static gboolean stop_main_loop(gpointer data)
{
    (void)data;
    g_main_loop_quit(main_loop);
    return G_SOURCE_REMOVE;
}

/* Signing out lets SIPE send its BYE/un-SUBSCRIBE/un-REGISTER; give them a moment to leave. */
static void begin_quit(int status)
{
    if (quitting)
        return;
    quitting = TRUE;
    exit_status = status;
    if (account && purple_account_get_enabled(account, UI_ID))
        purple_account_set_enabled(account, UI_ID, FALSE);
    g_timeout_add(500, stop_main_loop, NULL);
}

static gboolean on_signal(gpointer data)
{
    (void)data;
    begin_quit(0);
    return G_SOURCE_CONTINUE;
}

static gboolean on_timeout(gpointer data)
{
    (void)data;
    emit("TIMEOUT");
    begin_quit(3);
    return G_SOURCE_REMOVE;
}

static void remove_tree(const char *path)
{
    GDir *dir = g_dir_open(path, 0, NULL);
    if (dir) {
        const char *name;
        while ((name = g_dir_read_name(dir)) != NULL) {
            char *child = g_build_filename(path, name, NULL);
            if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
                remove_tree(child);
            else
                g_unlink(child);
            g_free(child);
        }
        g_dir_close(dir);
    }
    g_rmdir(path);
}

/* ---- commands ---------------------------------------------------------------------------- */

static PurpleConnection *connection_or_complain(void)
{
    PurpleConnection *gc = purple_account_get_connection(account);
    if (gc == NULL || purple_connection_get_state(gc) != PURPLE_CONNECTED) {
        emit("ERROR not signed in yet: wait for READY");
        return NULL;
    }
    return gc;
}

static void command_roomlist(void)
{
    PurpleConnection *gc = connection_or_complain();
    if (gc == NULL)
        return;
    roomlist_requesting = TRUE;
    PurpleRoomlist *list = purple_roomlist_get_list(gc);
    roomlist_requesting = FALSE;
    if (list == NULL) {
        emit("ERROR room list refused by SIPE: the chat service is not connected yet (wait for GROUPCHAT)");
        emit("ROOMLIST-END");
        return;
    }
    if (current_roomlist)
        purple_roomlist_unref(current_roomlist);
    purple_roomlist_ref(list);
    current_roomlist = list;
}

static void command_join(const char *target)
{
    PurpleConnection *gc = connection_or_complain();
    if (gc == NULL)
        return;
    const char *uri = target;
    if (!g_str_has_prefix(target, "ma-chan://")) {
        uri = roomlist_uris ? g_hash_table_lookup(roomlist_uris, target) : NULL;
        if (uri == NULL) {
            emit("ERROR join: '%s' is neither a ma-chan:// URI nor a room name from the last room list", target);
            return;
        }
    }
    GHashTable *components = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_hash_table_insert(components, g_strdup("uri"), g_strdup(uri));
    g_queue_push_tail(&pending_joins, g_strdup(uri));
    serv_join_chat(gc, components);
    g_hash_table_destroy(components);
}

static struct room *room_or_complain(const char *command, const char *uri)
{
    struct room *room = room_by_uri(uri);
    if (room == NULL)
        emit("ERROR %s: room '%s' is not open here (join it first)", command, uri);
    return room;
}

static void command_say(const char *args)
{
    const char *space = strchr(args, ' ');
    if (space == NULL || space[1] == '\0') {
        emit("ERROR say needs a room URI and a text: say <uri> <text>");
        return;
    }
    char *uri = g_strndup(args, (gsize)(space - args));
    struct room *room = room_or_complain("say", uri);
    if (room) {
        /* Pidgin's input box hands the prpl HTML; escape the plain text the way it would. */
        char *html = g_markup_escape_text(space + 1, -1);
        purple_conv_chat_send(PURPLE_CONV_CHAT(room->conv), html);
        g_free(html);
    }
    g_free(uri);
}

static void command_leave(const char *uri)
{
    struct room *room = room_or_complain("leave", uri);
    if (room == NULL)
        return;
    emit("LEFT %s", room->uri);
    purple_conversation_destroy(room->conv); /* -> serv_chat_leave -> cmd:part */
}

static void run_command(char *line)
{
    g_strchomp(line);
    char *args = strchr(line, ' ');
    if (args)
        *args++ = '\0';
    else
        args = line + strlen(line);

    if (strcmp(line, "roomlist") == 0)
        command_roomlist();
    else if (strcmp(line, "join") == 0 && *args)
        command_join(args);
    else if (strcmp(line, "say") == 0)
        command_say(args);
    else if (strcmp(line, "leave") == 0 && *args)
        command_leave(args);
    else if (strcmp(line, "users") == 0 && *args) {
        struct room *room = room_or_complain("users", args);
        if (room)
            emit_users(room);
    } else if (strcmp(line, "ping") == 0)
        emit("PONG %s", args);
    else if (strcmp(line, "quit") == 0)
        begin_quit(0);
    else if (*line)
        emit("ERROR unknown command '%s' (commands: roomlist, join, say, leave, users, ping, quit)", line);
}

static gboolean on_stdin(GIOChannel *channel, GIOCondition condition, gpointer data)
{
    (void)condition;
    (void)data;
    char *line = NULL;
    gsize length = 0;
    GIOStatus status = g_io_channel_read_line(channel, &line, &length, NULL, NULL);
    if (status == G_IO_STATUS_NORMAL && line) {
        if (length > MAX_COMMAND_LINE)
            emit("ERROR command line longer than %d bytes ignored", MAX_COMMAND_LINE);
        else
            run_command(line);
        g_free(line);
        return G_SOURCE_CONTINUE;
    }
    g_free(line);
    if (status == G_IO_STATUS_AGAIN)
        return G_SOURCE_CONTINUE;
    begin_quit(0); /* EOF or read error: the test script is gone */
    return G_SOURCE_REMOVE;
}

/* ---- main -------------------------------------------------------------------------------- */

static void print_to_stderr(const char *text)
{
    fputs(text, stderr);
}

static void log_to_stderr(const char *domain, GLogLevelFlags level, const char *message,
                          gpointer data)
{
    (void)level;
    (void)data;
    if (debug_to_stderr || (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)))
        fprintf(stderr, "%s: %s\n", domain ? domain : "glib", message);
}

int main(int argc, char **argv)
{
    if (argc != 3 || strchr(argv[1], '@') == NULL) {
        fprintf(stderr, "usage: %s USER@DOMAIN SERVER:PORT  (commands on stdin, see the source header)\n",
                argv[0]);
        return 2;
    }
    const char *timeout_text = getenv("PCHAT_DRIVER_TIMEOUT");
    long timeout_seconds = timeout_text ? strtol(timeout_text, NULL, 10) : DEFAULT_TIMEOUT_SECONDS;
    if (timeout_seconds <= 0 || timeout_seconds > 3600) {
        fprintf(stderr, "PCHAT_DRIVER_TIMEOUT must be between 1 and 3600 seconds (got '%s')\n",
                timeout_text);
        return 2;
    }
    debug_to_stderr = g_strcmp0(getenv("PCHAT_PURPLE_DEBUG"), "1") == 0;

    /* stdout carries only event lines: route glib's own printing to stderr. */
    g_set_print_handler(print_to_stderr);
    g_log_set_default_handler(log_to_stderr, NULL);
    signal(SIGPIPE, SIG_DFL);
    alarm((unsigned)timeout_seconds + 10); /* backstop if the main loop itself wedges */

    GError *error = NULL;
    user_dir = g_dir_make_tmp("pchat-purple-XXXXXX", &error);
    if (user_dir == NULL) {
        fprintf(stderr, "cannot create a temporary libpurple directory: %s\n", error->message);
        return 2;
    }
    main_loop = g_main_loop_new(NULL, FALSE);
    roomlist_uris = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

    purple_util_set_user_dir(user_dir);
    /* Not purple_debug_set_enabled(): that also g_print()s every line. SIPE logs when "unsafe"
     * debug is on, and unsafe is what makes it dump whole SIP messages. */
    purple_debug_set_enabled(FALSE);
    purple_debug_set_unsafe(TRUE);
    purple_core_set_ui_ops(&core_ops);
    purple_eventloop_set_ui_ops(&eventloop_ops);
    purple_plugins_add_search_path(SIPE_PLUGIN_DIR);
    if (!purple_core_init(UI_ID)) {
        fprintf(stderr, "libpurple failed to initialise (is libpurple0 installed?)\n");
        remove_tree(user_dir);
        return 2;
    }
    purple_set_blist(purple_blist_new());
    purple_blist_load();
    purple_signal_connect(purple_conversations_get_handle(), "chat-joined", &main_loop,
                          PURPLE_CALLBACK(on_chat_joined), NULL);

    if (purple_find_prpl("prpl-sipe") == NULL) {
        fprintf(stderr, "the SIPE plug-in was not found in %s: install pidgin-sipe\n", SIPE_PLUGIN_DIR);
        purple_core_quit();
        remove_tree(user_dir);
        return 2;
    }

    account = purple_account_new(argv[1], "prpl-sipe");
    purple_account_set_password(account, "interop-password");
    purple_account_set_string(account, "server", argv[2]);
    purple_account_set_string(account, "transport", "tcp");
    const char *groupchat_user = getenv("PCHAT_DRIVER_GROUPCHAT_USER");
    if (groupchat_user && *groupchat_user)
        purple_account_set_string(account, "groupchat_user", groupchat_user);
    purple_accounts_add(account);
    purple_account_set_enabled(account, UI_ID, TRUE);
    purple_savedstatus_activate(purple_savedstatus_new(NULL, PURPLE_STATUS_AVAILABLE));

    GIOChannel *input = g_io_channel_unix_new(STDIN_FILENO);
    g_io_add_watch(input, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, NULL);
    g_io_channel_unref(input);
    g_unix_signal_add(SIGTERM, on_signal, NULL);
    g_unix_signal_add(SIGINT, on_signal, NULL);
    g_timeout_add_seconds((guint)timeout_seconds, on_timeout, NULL);

    g_main_loop_run(main_loop);

    purple_core_quit();
    remove_tree(user_dir);
    g_free(user_dir);
    return exit_status;
}
