// SPDX-License-Identifier: GPL-2.0
/*
 * Error strings and console output for lkl programs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <lkl.h>

const char *lkl_strerror(int err)
{
	if (err < 0)
		err = -err;

	switch (err) {
	case 0: return "Success";
	/* asm-generic/errno-base.h */
	case LKL_EPERM: return "Operation not permitted";
	case LKL_ENOENT: return "No such file or directory";
	case LKL_ESRCH: return "No such process";
	case LKL_EINTR: return "Interrupted system call";
	case LKL_EIO: return "Input/output error";
	case LKL_ENXIO: return "No such device or address";
	case LKL_E2BIG: return "Argument list too long";
	case LKL_ENOEXEC: return "Exec format error";
	case LKL_EBADF: return "Bad file descriptor";
	case LKL_ECHILD: return "No child processes";
	case LKL_EAGAIN: return "Resource temporarily unavailable";
	case LKL_ENOMEM: return "Cannot allocate memory";
	case LKL_EACCES: return "Permission denied";
	case LKL_EFAULT: return "Bad address";
	case LKL_ENOTBLK: return "Block device required";
	case LKL_EBUSY: return "Device or resource busy";
	case LKL_EEXIST: return "File exists";
	case LKL_EXDEV: return "Invalid cross-device link";
	case LKL_ENODEV: return "No such device";
	case LKL_ENOTDIR: return "Not a directory";
	case LKL_EISDIR: return "Is a directory";
	case LKL_EINVAL: return "Invalid argument";
	case LKL_ENFILE: return "Too many open files in system";
	case LKL_EMFILE: return "Too many open files";
	case LKL_ENOTTY: return "Inappropriate ioctl for device";
	case LKL_ETXTBSY: return "Text file busy";
	case LKL_EFBIG: return "File too large";
	case LKL_ENOSPC: return "No space left on device";
	case LKL_ESPIPE: return "Illegal seek";
	case LKL_EROFS: return "Read-only file system";
	case LKL_EMLINK: return "Too many links";
	case LKL_EPIPE: return "Broken pipe";
	case LKL_EDOM: return "Numerical argument out of domain";
	case LKL_ERANGE: return "Numerical result out of range";
	/* asm-generic/errno.h (EWOULDBLOCK and EDEADLOCK are aliases) */
	case LKL_EDEADLK: return "Resource deadlock avoided";
	case LKL_ENAMETOOLONG: return "File name too long";
	case LKL_ENOLCK: return "No locks available";
	case LKL_ENOSYS: return "Function not implemented";
	case LKL_ENOTEMPTY: return "Directory not empty";
	case LKL_ELOOP: return "Too many levels of symbolic links";
	case LKL_ENOMSG: return "No message of desired type";
	case LKL_EIDRM: return "Identifier removed";
	case LKL_ECHRNG: return "Channel number out of range";
	case LKL_EL2NSYNC: return "Level 2 not synchronized";
	case LKL_EL3HLT: return "Level 3 halted";
	case LKL_EL3RST: return "Level 3 reset";
	case LKL_ELNRNG: return "Link number out of range";
	case LKL_EUNATCH: return "Protocol driver not attached";
	case LKL_ENOCSI: return "No CSI structure available";
	case LKL_EL2HLT: return "Level 2 halted";
	case LKL_EBADE: return "Invalid exchange";
	case LKL_EBADR: return "Invalid request descriptor";
	case LKL_EXFULL: return "Exchange full";
	case LKL_ENOANO: return "No anode";
	case LKL_EBADRQC: return "Invalid request code";
	case LKL_EBADSLT: return "Invalid slot";
	case LKL_EBFONT: return "Bad font file format";
	case LKL_ENOSTR: return "Device not a stream";
	case LKL_ENODATA: return "No data available";
	case LKL_ETIME: return "Timer expired";
	case LKL_ENOSR: return "Out of streams resources";
	case LKL_ENONET: return "Machine is not on the network";
	case LKL_ENOPKG: return "Package not installed";
	case LKL_EREMOTE: return "Object is remote";
	case LKL_ENOLINK: return "Link has been severed";
	case LKL_EADV: return "Advertise error";
	case LKL_ESRMNT: return "Srmount error";
	case LKL_ECOMM: return "Communication error on send";
	case LKL_EPROTO: return "Protocol error";
	case LKL_EMULTIHOP: return "Multihop attempted";
	case LKL_EDOTDOT: return "RFS specific error";
	case LKL_EBADMSG: return "Bad message";
	case LKL_EOVERFLOW: return "Value too large for defined data type";
	case LKL_ENOTUNIQ: return "Name not unique on network";
	case LKL_EBADFD: return "File descriptor in bad state";
	case LKL_EREMCHG: return "Remote address changed";
	case LKL_ELIBACC: return "Can not access a needed shared library";
	case LKL_ELIBBAD: return "Accessing a corrupted shared library";
	case LKL_ELIBSCN: return ".lib section in a.out corrupted";
	case LKL_ELIBMAX:
		return "Attempting to link in too many shared libraries";
	case LKL_ELIBEXEC: return "Cannot exec a shared library directly";
	case LKL_EILSEQ: return "Invalid or incomplete multibyte or wide character";
	case LKL_ERESTART: return "Interrupted system call should be restarted";
	case LKL_ESTRPIPE: return "Streams pipe error";
	case LKL_EUSERS: return "Too many users";
	case LKL_ENOTSOCK: return "Socket operation on non-socket";
	case LKL_EDESTADDRREQ: return "Destination address required";
	case LKL_EMSGSIZE: return "Message too long";
	case LKL_EPROTOTYPE: return "Protocol wrong type for socket";
	case LKL_ENOPROTOOPT: return "Protocol not available";
	case LKL_EPROTONOSUPPORT: return "Protocol not supported";
	case LKL_ESOCKTNOSUPPORT: return "Socket type not supported";
	case LKL_EOPNOTSUPP: return "Operation not supported";
	case LKL_EPFNOSUPPORT: return "Protocol family not supported";
	case LKL_EAFNOSUPPORT:
		return "Address family not supported by protocol";
	case LKL_EADDRINUSE: return "Address already in use";
	case LKL_EADDRNOTAVAIL: return "Cannot assign requested address";
	case LKL_ENETDOWN: return "Network is down";
	case LKL_ENETUNREACH: return "Network is unreachable";
	case LKL_ENETRESET: return "Network dropped connection on reset";
	case LKL_ECONNABORTED: return "Software caused connection abort";
	case LKL_ECONNRESET: return "Connection reset by peer";
	case LKL_ENOBUFS: return "No buffer space available";
	case LKL_EISCONN: return "Transport endpoint is already connected";
	case LKL_ENOTCONN: return "Transport endpoint is not connected";
	case LKL_ESHUTDOWN:
		return "Cannot send after transport endpoint shutdown";
	case LKL_ETOOMANYREFS: return "Too many references: cannot splice";
	case LKL_ETIMEDOUT: return "Connection timed out";
	case LKL_ECONNREFUSED: return "Connection refused";
	case LKL_EHOSTDOWN: return "Host is down";
	case LKL_EHOSTUNREACH: return "No route to host";
	case LKL_EALREADY: return "Operation already in progress";
	case LKL_EINPROGRESS: return "Operation now in progress";
	case LKL_ESTALE: return "Stale file handle";
	case LKL_EUCLEAN: return "Structure needs cleaning";
	case LKL_ENOTNAM: return "Not a XENIX named type file";
	case LKL_ENAVAIL: return "No XENIX semaphores available";
	case LKL_EISNAM: return "Is a named type file";
	case LKL_EREMOTEIO: return "Remote I/O error";
	case LKL_EDQUOT: return "Disk quota exceeded";
	case LKL_ENOMEDIUM: return "No medium found";
	case LKL_EMEDIUMTYPE: return "Wrong medium type";
	case LKL_ECANCELED: return "Operation canceled";
	case LKL_ENOKEY: return "Required key not available";
	case LKL_EKEYEXPIRED: return "Key has expired";
	case LKL_EKEYREVOKED: return "Key has been revoked";
	case LKL_EKEYREJECTED: return "Key was rejected by service";
	case LKL_EOWNERDEAD: return "Owner died";
	case LKL_ENOTRECOVERABLE: return "State not recoverable";
	case LKL_ERFKILL: return "Operation not possible due to RF-kill";
	case LKL_EHWPOISON: return "Memory page has hardware error";
	/*
	 * Kernel-internal codes (include/linux/errno.h). System calls should
	 * never return them, but a few (ENOTSUPP above all) do leak out.
	 */
	case 512: return "Restart system call (ERESTARTSYS)";
	case 513: return "Restart system call unless a handler ran "
			 "(ERESTARTNOINTR)";
	case 514: return "Restart if no handler (ERESTARTNOHAND)";
	case 515: return "No ioctl command (ENOIOCTLCMD)";
	case 516: return "Restart by calling restart_syscall "
			 "(ERESTART_RESTARTBLOCK)";
	case 517: return "Driver requests probe retry (EPROBE_DEFER)";
	case 518: return "Open found a stale dentry (EOPENSTALE)";
	case 519: return "Parameter not supported (ENOPARAM)";
	case 521: return "Illegal NFS file handle (EBADHANDLE)";
	case 522: return "Update synchronization mismatch (ENOTSYNC)";
	case 523: return "Cookie is stale (EBADCOOKIE)";
	case 524: return "Operation is not supported (ENOTSUPP)";
	case 525: return "Buffer or request is too small (ETOOSMALL)";
	case 526: return "An untranslatable error occurred (ESERVERFAULT)";
	case 527: return "Type not supported by server (EBADTYPE)";
	case 528: return "Request initiated, but will not complete before "
			 "timeout (EJUKEBOX)";
	case 529: return "iocb queued, will get completion event "
			 "(EIOCBQUEUED)";
	case 530: return "Conflict with recalled state (ERECALLCONFLICT)";
	case 531: return "NFS file lock reclaim refused (ENOGRACE)";
	default: return "Unknown error";
	}
}

void lkl_perror(char *msg, int err)
{
	const char *text = lkl_strerror(err);

	if (msg && *msg)
		lkl_printf("%s: %s\n", msg, text);
	else
		lkl_printf("%s\n", text);
}

int lkl_printf(const char *fmt, ...)
{
	char small[256];
	char *buf = small;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -LKL_EINVAL;

	if ((size_t)n >= sizeof(small)) {
		buf = malloc((size_t)n + 1);
		if (!buf)
			return -LKL_ENOMEM;
		va_start(ap, fmt);
		vsnprintf(buf, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}

	if (lkl_host_ops.print)
		lkl_host_ops.print(buf, n);

	if (buf != small)
		free(buf);
	return n;
}
