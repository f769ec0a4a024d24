/*
 * Functions sked's sources must not call. Included last by common.h, it turns
 * each name into a compile error that says why. gmtime/localtime/mktime read
 * the process's TZ and are not thread-safe; the string functions have no
 * bounds; system/popen go through a shell; setenv/putenv race with exec.
 */
#ifndef SK_BANNED_H
#define SK_BANNED_H

#define SK_BANNED(f) sorry_##f##_is_banned_in_sked

#undef strcpy
#define strcpy(...) SK_BANNED(strcpy)
#undef strcat
#define strcat(...) SK_BANNED(strcat)
#undef sprintf
#define sprintf(...) SK_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) SK_BANNED(vsprintf)
#undef strtok
#define strtok(...) SK_BANNED(strtok)
#undef atoi
#define atoi(...) SK_BANNED(atoi)
#undef gmtime
#define gmtime(...) SK_BANNED(gmtime)
#undef localtime
#define localtime(...) SK_BANNED(localtime)
#undef localtime_r
#define localtime_r(...) SK_BANNED(localtime_r)
#undef mktime
#define mktime(...) SK_BANNED(mktime)
#undef setenv
#define setenv(...) SK_BANNED(setenv)
#undef putenv
#define putenv(...) SK_BANNED(putenv)
#undef system
#define system(...) SK_BANNED(system)
#undef popen
#define popen(...) SK_BANNED(popen)

#endif
