import unittest

from tallyho.count import count_lines, count_words


class CountTest(unittest.TestCase):
    def test_words(self):
        self.assertEqual(count_words("a b  c\n"), 3)

    def test_lines(self):
        self.assertEqual(count_lines("a\nb\n"), 2)

    @unittest.expectedFailure
    def test_lines_without_final_newline(self):
        self.assertEqual(count_lines("a\nb"), 2)


if __name__ == "__main__":
    unittest.main()
