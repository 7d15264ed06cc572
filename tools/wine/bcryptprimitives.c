#include <windows.h>
/* Wine 8 (Debian 12) has no bcryptprimitives.dll; Go >= 1.22 needs its
   ProcessPrng. RtlGenRandom (advapi32 SystemFunction036) does the same. */
BOOLEAN WINAPI SystemFunction036(PVOID, ULONG);
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n; len -= n;
    }
    return TRUE;
}
