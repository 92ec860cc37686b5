// SPDX-License-Identifier: Apache-2.0
/* Placeholder until the loader lands; replaced by the real entry point. */
int main(void)
{
	return 0;
}
