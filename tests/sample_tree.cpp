#include "sample_tree.hpp"

#include "image_util.hpp"

#include <unistd.h>

namespace lkl_test {

std::string make_sample_tree(const std::string &dir)
{
	if (geteuid() != 0)
		return "owners and device nodes need root";
	if (!have("setfacl") || !have("setfattr"))
		return "setfacl or setfattr (acl, attr) is missing";
	std::string d = quote(dir);
	std::string long_name(150, 'n');
	std::string script =
		"set -e; cd " + d + "\n"
		"mkdir a e\n"
		"printf 'hello\\n' > a/f\n"
		"ln a/f a/f2\n"
		"ln -s f a/l\n"
		"ln -s /a/f abs\n"
		"mkfifo p\n"
		"mknod c c 1 3\n"
		"mknod b b 7 0\n"
		"truncate -s 8M s\n"
		"printf data | dd of=s conv=notrunc status=none\n"
		"printf more | dd of=s bs=1 seek=5242880 conv=notrunc status=none\n"
		"head -c 300000 /dev/urandom > big\n"
		"printf x > " + long_name + "\n"
		"printf y > '\xc3\xbc.txt'\n"
		"printf 'z' > su && chmod 4755 su\n"
		"chmod 1777 e\n"
		"setfattr -n user.comment -v 'a comment' a/f\n"
		"setfattr -n user.bin -v 0x00ff10 s\n"
		"setfacl -m u:1234:rw,g:5678:r a/f\n"
		"setfacl -d -m u:1234:rwx,g::rx a\n"
		"chown 1001:1002 a a/f\n"
		"chown -h 1003:1004 a/l\n"
		"chmod 0750 a\n"
		"touch -h -d '2021-02-03 04:05:06.123456789' a/f a/l s p\n"
		"touch -d '2020-01-01 00:00:00.5' a e\n";
	std::string out;
	if (run("sh -c " + quote(script), &out) != 0)
		return "making the tree failed: " + out;
	return "";
}

} // namespace lkl_test
