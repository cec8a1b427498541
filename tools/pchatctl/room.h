/* room.h — the room verbs are spread over three files (cmd_room.c: new/set and the table,
 * cmd_room_get.c: get, cmd_room_admin.c: remove/disable/enable/clear); this joins them. */
#ifndef PCHATCTL_ROOM_H
#define PCHATCTL_ROOM_H

#include "ctl.h"

int room_get(struct ctl *c, const struct args *a);
int room_remove(struct ctl *c, const struct args *a);
int room_disable(struct ctl *c, const struct args *a);
int room_enable(struct ctl *c, const struct args *a);
int room_clear(struct ctl *c, const struct args *a);

/* The room as `room get NAME` shows it; NULL on a db error. */
struct jv *room_detail(struct ctl *c, int64_t room_id);

/* The change's compliance record for a room (ADMIN_<what>); 0 or an exit code. */
int room_audit(struct ctl *c, const char *what, const struct room_ref *room, struct jv *content);

#endif
