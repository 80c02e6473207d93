from services.storage.s3server import main

main()
