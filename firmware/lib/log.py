# One line per event on the console (USB serial on the board, stdout under the unix port).


def log(level, msg):
    print(level, msg)
