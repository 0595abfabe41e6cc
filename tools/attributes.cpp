#include "attributes.hpp"

#include <cerrno>
#include <cstring>

namespace lkl_tools {

namespace {

// XFS shows root its ACLs a second time, as the trusted.* attributes it
// keeps them in; they travel as system.posix_acl_* (and cp skips them too,
// see /etc/xattr.conf).
bool acl_storage(const char *name)
{
	return !strcmp(name, "trusted.SGI_ACL_FILE") ||
	       !strcmp(name, "trusted.SGI_ACL_DEFAULT");
}

// The list of names; its length, or a negative errno.
long list_xattrs(Fs &fs, const std::string &path, std::vector<char> &names)
{
	for (;;) {
		long size = fs.listxattr(path, nullptr, 0);
		if (size <= 0)
			return size;
		names.resize(static_cast<std::size_t>(size));
		long len = fs.listxattr(path, names.data(), names.size());
		if (len != -ERANGE) // else it grew meanwhile
			return len;
	}
}

long get_xattr(Fs &fs, const std::string &path, const char *name,
	       std::string &value)
{
	for (;;) {
		long size = fs.getxattr(path, name, nullptr, 0);
		if (size < 0)
			return size;
		value.resize(static_cast<std::size_t>(size) + 1);
		long len = fs.getxattr(path, name, value.data(), value.size());
		if (len >= 0)
			value.resize(static_cast<std::size_t>(len));
		if (len != -ERANGE)
			return len;
	}
}

} // namespace

void read_xattrs(Fs &fs, const std::string &path, Xattrs &out,
		 const ErrorHook &error)
{
	std::vector<char> names;
	long len = list_xattrs(fs, path, names);
	if (len < 0) {
		if (len != -EOPNOTSUPP && error)
			error(path, len, "listing extended attributes");
		return;
	}
	for (const char *name = names.data(); name < names.data() + len;
	     name += strlen(name) + 1) {
		if (acl_storage(name))
			continue;
		std::string value;
		long size = get_xattr(fs, path, name, value);
		if (size == -ENODATA)
			continue; // removed meanwhile
		if (size < 0) {
			if (error)
				error(path, size, std::string("reading ") + name);
			continue;
		}
		out.emplace_back(name, std::move(value));
	}
}

void set_attributes(Fs &dst, const std::string &to, const Stat &st,
		    const Xattrs &xattrs, const CopyOptions &options,
		    const ErrorHook &error)
{
	auto report = [&](long err, const std::string &doing) {
		if (error)
			error(to, err, doing);
	};
	unsigned uid = options.uid.value_or(st.st_uid);
	unsigned gid = options.gid.value_or(st.st_gid);
	if (long err = dst.chown(to, uid, gid); err < 0) {
		bool forced = options.uid || options.gid;
		if (err != -EPERM || forced || !options.lenient_chown)
			report(err, "setting the owner");
	}
	for (const auto &[name, value] : xattrs) {
		long err = dst.setxattr(to, name.c_str(), value.data(), value.size());
		if (err < 0 && err != -EOPNOTSUPP && err != -EPERM)
			report(err, "setting " + name);
	}
	if (!S_ISLNK(st.st_mode)) {
		long err = dst.chmod(to, st.st_mode & 07777);
		if (err < 0 && !(err == -EPERM && options.lenient_chmod))
			report(err, "setting the mode");
	}
	if (long err = dst.utimens(to, st.st_atim, st.st_mtim); err < 0)
		report(err, "setting the times");
}

} // namespace lkl_tools
